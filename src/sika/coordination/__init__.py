"""What processes share when Sika scales out: job leases (who runs a job that must run in one place
at a time) and the pacing of WhatsApp sends. In the database, or in Redis when ``SIKA_REDIS_URL`` is
set; never in one process's memory."""
