"""The session engine: Django's cached_db, degraded gracefully when the cache (Redis) is down.

Django already treats a failed cache read and a failed cache write on save as a miss / a log line,
but the refill after a miss and the key-collision check of a new session (login) are unguarded, so
every session read and every login answered 500 while Redis was down. Here both fall back to
PostgreSQL, which holds the session; the cache only speeds it up.
Deleting (logout) still raises when the cache is down — a logged-out session must not survive in it.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDbStore

logger = logging.getLogger(__name__)


class SessionStore(CachedDbStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            data = None
        if data is not None:
            return data
        s = self._get_session_from_db()
        if not s:
            return {}
        data = self.decode(s.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date))
        except Exception as exc:
            logger.warning("session cache refill failed (%s); read from the database", exc.__class__.__name__)
        return data

    async def aload(self):
        try:
            data = await self._cache.aget(await self.acache_key())
        except Exception:
            data = None
        if data is not None:
            return data
        s = await self._aget_session_from_db()
        if not s:
            return {}
        data = self.decode(s.session_data)
        try:
            await self._cache.aset(await self.acache_key(), data, await self.aget_expiry_age(expiry=s.expire_date))
        except Exception as exc:
            logger.warning("session cache refill failed (%s); read from the database", exc.__class__.__name__)
        return data

    def exists(self, session_key):
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception as exc:  # the database below answers
            logger.warning("session cache check failed (%s); asked the database", exc.__class__.__name__)
        return super(CachedDbStore, self).exists(session_key)

    async def aexists(self, session_key):
        try:
            if session_key and await self._cache.ahas_key(self.cache_key_prefix + session_key):
                return True
        except Exception as exc:
            logger.warning("session cache check failed (%s); asked the database", exc.__class__.__name__)
        return await super(CachedDbStore, self).aexists(session_key)
