"""Functions run in multiprocessing children (importable by name for spawn)."""

import os

import monitoring


def emit_from_child(tag):
    # The default client: inherited with fork (the parent configured it), configured from
    # MONITORING_CONFIG in a spawned interpreter. Delivery at the child's exit is the package's job.
    with monitoring.job("child-job", business_key=tag):
        monitoring.emit({"event": {"kind": "log", "message": f"{tag} from {os.getpid()}"}})
    return os.getpid()
