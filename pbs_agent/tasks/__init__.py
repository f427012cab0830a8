"""PBS tasks and jobs, read-only: the task-log parser, the task archive reader, job states
and the statistics folded from finished tasks."""
