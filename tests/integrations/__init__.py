"""Tests of statesync.integrations (LangGraph)."""
