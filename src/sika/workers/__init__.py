"""Background jobs: run inside ``sika serve`` and alone as ``sika worker`` processes."""

from sika.workers.runner import Job, WorkerRunner, default_jobs

__all__ = ["Job", "WorkerRunner", "default_jobs"]
