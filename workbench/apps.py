from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "workbench"
    verbose_name = "Lead workbench"

    def ready(self) -> None:
        from workbench import receivers  # noqa: F401  (connects the lower floors' signals)
