"""Django signals the engine sends after a transition commits.

Receivers get ``event`` (the stored Event row). Sent from
``transaction.on_commit`` so a receiver never sees a change that rolls back.
"""

from django.dispatch import Signal

job_event = Signal()
