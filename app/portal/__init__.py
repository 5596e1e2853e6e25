"""The identity portal (ЕСИА / Госуслуги) as the registry uses it.

- port.py: what goes to the portal and comes back (the IdentityPortal protocol)
- http_portal.py, sandbox_portal.py: the real portal over HTTP, and the sandbox
- models.py: confirmation requests, the sandbox's inbox, each operator's send allowance
- dispatch.py, allowance.py: sending queued requests at the portal's rate per operator
- backlog.py: the queue as admins, staff and the metrics see it
- answers.py: taking in the persons' answers
- repository.py: the writes where the engines differ
- router.py, schemas.py, jobs.py: the person's requests, the answer webhook, the sandbox's
  switches, and the dispatch job
"""
