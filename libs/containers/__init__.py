"""Containers and images behind small ports: the Docker adapter and its fake."""
