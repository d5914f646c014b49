"""A stand-in for the slice of Airflow's API a DAG file uses at import time (DAG,
BashOperator, TriggerDagRunOperator, `>>`), recording what the file builds so a test
can check the tasks and edges without installing Airflow. Only the Airflow 2 import
paths exist here, so the DAG's fallback import is exercised too."""

DAGS = []
_open = []


class DAG:
    def __init__(self, dag_id, **kwargs):
        self.dag_id = dag_id
        self.kwargs = kwargs
        self.tasks = {}
        DAGS.append(self)

    def __enter__(self):
        _open.append(self)
        return self

    def __exit__(self, *exc):
        _open.pop()


class BaseOperator:
    def __init__(self, task_id, **kwargs):
        if not _open:
            raise RuntimeError(f"task {task_id} created outside a DAG")
        dag = _open[-1]
        if task_id in dag.tasks:
            raise ValueError(f"duplicate task {task_id}")
        self.task_id = task_id
        self.kwargs = kwargs
        self.downstream = []
        dag.tasks[task_id] = self

    def __rshift__(self, other):
        self.downstream.append(other.task_id)
        return other
