"""Jobs: a result for every package request, whatever its trigger (docs/design.md §7).

- `model`: the job, its trigger, result and problem types; job ids.
- `store`: the `JobStore` interface; `sqlite` and `dynamodb` implement it.
- `execute`: run one job through the runner and record what became of it (bounded retries).
- `pool`: the local bounded worker pool (`qps serve`); `dispatch`: the SQS dispatcher (AWS).
- `recorder`: the queue path (Lambda handler, `qps worker`) records a job per planned request.
"""
