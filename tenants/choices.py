from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    SUPERVISOR = "supervisor", "Supervisor"
    AGENT = "agent", "Agent"
