"""``make bench``: every performance figure of docs/performance.md measured in one run, each
next to the baseline it is judged against, on a local stack run as in production."""
