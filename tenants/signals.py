"""Signals the tenant space sends so higher apps can take part without being imported here.

`installation_uninstalling` is sent before an installation is removed, with `installation` and
`force`. A receiver returns how many open conversations stand in the way (0 if none); with
`force=True` it closes them first. Conversations connects to it in its AppConfig.ready().
"""

from django.dispatch import Signal

installation_uninstalling = Signal()
