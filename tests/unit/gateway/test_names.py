from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.names import (
    WEBHOOK_DEPLOYMENT_NAMESPACE,
    ImageReference,
    InvalidImageReference,
    InvalidName,
    deployment_id_for_webhook,
    parse_image_reference,
    validate_environment_name,
    validate_project_name,
)


@pytest.mark.parametrize("name", ["a", "shop", "my-app-2", "0day", "a" * 63, "x-1-y"])
def test_dns_labels_are_valid_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "is empty"),
        ("a" * 64, "64 characters; at most 63"),
        ("MyApp", "lower-case"),
        ("my_app", "may only contain"),
        ("my.app", "may only contain"),
        ("café", "may only contain"),
        ("-app", "start and end"),
        ("app-", "start and end"),
    ],
)
def test_invalid_project_names_say_what_is_wrong(name: str, message: str) -> None:
    with pytest.raises(InvalidName, match=message):
        validate_project_name(name)


@pytest.mark.parametrize("name", ["production", "preview", "staging-eu", "d", "dev", "d1"])
def test_valid_environment_names(name: str) -> None:
    assert validate_environment_name(name) == name


def test_environment_names_may_not_start_with_d_dash() -> None:
    with pytest.raises(InvalidName, match="may not start with 'd-'"):
        validate_environment_name("d-1234abcd")


def test_environment_names_follow_the_same_label_rules() -> None:
    with pytest.raises(InvalidName, match="environment name"):
        validate_environment_name("Prod")


@given(st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z"))
def test_every_dns_label_is_a_valid_project_name(name: str) -> None:
    assert validate_project_name(name) == name


def test_webhook_deployment_id_is_a_deterministic_uuid5() -> None:
    first = deployment_id_for_webhook("shop", "production", "72d3162e-cc78")
    assert first == deployment_id_for_webhook("shop", "production", "72d3162e-cc78")
    parsed = uuid.UUID(first)
    assert parsed.version == 5
    assert first == str(uuid.uuid5(WEBHOOK_DEPLOYMENT_NAMESPACE, "shop/production/72d3162e-cc78"))


def test_webhook_deployment_ids_differ_per_environment_and_delivery() -> None:
    ids = {
        deployment_id_for_webhook("shop", "production", "d1"),
        deployment_id_for_webhook("shop", "preview", "d1"),
        deployment_id_for_webhook("shop", "production", "d2"),
        deployment_id_for_webhook("blog", "production", "d1"),
    }
    assert len(ids) == 4


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", ImageReference(None, "nginx", None, None)),
        ("nginx:1.27-alpine", ImageReference(None, "nginx", "1.27-alpine", None)),
        ("library/nginx:latest", ImageReference(None, "library/nginx", "latest", None)),
        ("ghcr.io/acme/web:v1.2.3", ImageReference("ghcr.io", "acme/web", "v1.2.3", None)),
        ("localhost:5000/app", ImageReference("localhost:5000", "app", None, None)),
        ("localhost/app:1", ImageReference("localhost", "app", "1", None)),
        ("registry.local:5000/a/b/c:t", ImageReference("registry.local:5000", "a/b/c", "t", None)),
        (f"alpine@{DIGEST}", ImageReference(None, "alpine", None, DIGEST)),
        (f"alpine:3.20@{DIGEST}", ImageReference(None, "alpine", "3.20", DIGEST)),
        ("[::1]:5000/app:dev", ImageReference("[::1]:5000", "app", "dev", None)),
        ("my_org/my__app.x-y", ImageReference(None, "my_org/my__app.x-y", None, None)),
        ("Registry.Example.com/app", ImageReference("Registry.Example.com", "app", None, None)),
        (
            "slipway/shop/production:abc",
            ImageReference(None, "slipway/shop/production", "abc", None),
        ),
    ],
)
def test_valid_image_references_parse(ref: str, expected: ImageReference) -> None:
    parsed = parse_image_reference(ref)
    assert parsed == expected
    assert str(parsed) == ref


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("nginx latest", "whitespace"),
        ("Nginx", "lower-case"),
        ("acme/MyApp:1", "lower-case"),
        ("nginx:", "tag ''"),
        ("nginx:-bad", "tag '-bad'"),
        ("nginx:" + "a" * 129, "1-128"),
        ("nginx@sha256:abc", "64 lower-case hex"),
        ("nginx@md5:" + "a" * 64, "must be sha256"),
        ("nginx@sha256:" + "A" * 64, "64 lower-case hex"),
        ("acme//web", "empty path component"),
        ("acme/web/", "empty path component"),
        ("-acme/web", "path component '-acme'"),
        ("acme/web..x", "path component 'web..x'"),
        ("acme/web___x", "path component"),
        ("bad_host.io:5000/app", "registry 'bad_host.io:5000'"),
        ("host:port/app", "registry 'host:port'"),
        ("a/" + "b" * 260, "longer than 255"),
    ],
)
def test_invalid_image_references_say_what_is_wrong(ref: str, message: str) -> None:
    with pytest.raises(InvalidImageReference, match=message):
        parse_image_reference(ref)
