from django.db import models


class ConsentStatus(models.TextChoices):
    OPT_IN = "opt_in", "Opted in"
    OPT_OUT = "opt_out", "Opted out"
    UNKNOWN = "unknown", "Unknown"


class ConsentSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword in an inbound message"
    WEB_FORM = "web_form", "Web form"
    API = "api", "Partner API"
    AGENT = "agent", "Agent or tenant admin"
    CONFIRMATION = "confirmation", "Double opt-in confirmation"
