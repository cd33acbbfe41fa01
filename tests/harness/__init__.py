"""The check harness: one place for what the checks of tests/ share.

- shell: run a command, bounded in time, with its output in the failure;
- project: the checkout (root, version, revision, created time, hardening flags);
- engine: the container engine (podman or Docker) and the containers a check starts;
- proc: a process's hardening as the kernel reports it (/proc/PID);
- image: an image unpacked as a registry sees it (layers, config, the binary);
- http: plain HTTP GETs to a server on loopback.
"""
