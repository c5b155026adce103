from tests.conversations.conftest import alice, bob  # noqa: F401 — the same agents as the conversation tests
