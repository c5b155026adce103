from django.db import models

from .sql import TABLE


class Row(models.Model):
    text = models.TextField()
    n = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        managed = False
        db_table = TABLE
