"""One job written for the console's own registry, beside the shop's @task functions."""

import time

from jobs.entrypoints import JobContext, entrypoint


@entrypoint("orders.pack")
def pack(ctx: JobContext, *, order_id: int, seconds: float = 0.0) -> dict:
    time.sleep(seconds)
    return {"packed": order_id}
