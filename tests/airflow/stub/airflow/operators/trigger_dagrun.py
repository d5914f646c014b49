from airflow import BaseOperator


class TriggerDagRunOperator(BaseOperator):
    def __init__(self, task_id, trigger_dag_id, **kwargs):
        super().__init__(task_id, trigger_dag_id=trigger_dag_id, **kwargs)
