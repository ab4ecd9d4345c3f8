"""How QPS runs as a process: the composition root (`compose`), the SQS batch semantics shared by the
Lambda handler and `qps worker` (`sqs_batch`, `worker`), and following stored settings (`live`)."""
