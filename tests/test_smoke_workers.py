import pytest

from jobs.models import Job, Status
from jobs.services.jobs import job_submit
from tests.support.processes import wait_for


@pytest.mark.workers
def test_it_runs_submitted_jobs_on_a_real_worker(workers, beat, cli):
    for n in range(5):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    workers(1)
    beat()
    wait_for(lambda: Job.objects.filter(status=Status.SUCCEEDED).count() == 5, timeout=60, message="5 succeeded")
