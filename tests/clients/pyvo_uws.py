"""Drives a running vocloud with pyvo, the UWS client most astronomers have.

Usage: python pyvo_uws.py BASE_URL USER PASSWORD

Run by tests/api/clients.rs against a real server. Exits non-zero (with a traceback) on any
mismatch. Covers: creation through the 303, pyvo's job object (run, wait, phase, results,
error summary, abort, delete), and pyvo's job and job-list parsers.
"""
import io
import sys

import requests
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job, parse_job_list


def create(session, base, **params):
    response = session.post(f"{base}/uws/diag", data=params)
    response.raise_for_status()
    assert response.history and response.history[0].status_code == 303, response.history
    return AsyncTAPJob(response.url, session=session, delete=False)


def main(base, user, password):
    session = requests.Session()
    session.auth = (user, password)

    job = create(session, base, duration="0.3", output="hello from pyvo", RUNID="pyvo-run")
    assert job.phase == "PENDING", job.phase
    job.run()
    job.wait(timeout=60)
    assert job.phase == "COMPLETED", job.phase
    assert job._job.runid == "pyvo-run"
    assert job._job.version == "1.1"
    assert job._job.ownerid == user
    assert job.execution_duration.value > 0
    uris = job.result_uris
    assert len(uris) == 1 and uris[0].endswith("/results/diag.txt"), uris
    assert session.get(uris[0]).text == "hello from pyvo"
    parsed = parse_job(io.BytesIO(session.get(job.url).content))
    assert {p.id_ for p in parsed.parameters} >= {"duration", "fail", "output"}

    failing = create(session, base, duration="0", fail="true")
    failing.run()
    failing.wait(timeout=60)
    assert failing.phase == "ERROR", failing.phase
    message = failing._job.errorsummary.message.content
    assert "failed on request" in message, message

    long = create(session, base, duration="60")
    long.run()
    long.abort()
    assert long.phase == "ABORTED", long.phase

    jobs = parse_job_list(io.BytesIO(session.get(f"{base}/uws/diag").content))
    ids = {j.jobid for j in jobs}
    assert {job.job_id, failing.job_id, long.job_id} <= ids, ids

    for j in (job, failing, long):
        j.delete()
    assert session.get(f"{base}/uws/diag/{job.job_id}").status_code == 404
    print("pyvo: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
