"""The Celery app that cluster workers run: `celery -A dagster_project.celery_app worker -Q dagster ...`.

Built from `dagster_project.executor.celery_app_args()`, the settings the orchestrator's executor uses, so broker,
backend and acknowledgement settings are the same on both sides. Registers dagster-celery's step task."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from dagster_project.executor import celery_app_args

app = make_app(celery_app_args())
execute_plan = create_task(app)
