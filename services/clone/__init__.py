"""The clone service (§1): DownloadRepoJob — git at the exact commit, source tarball stored."""
