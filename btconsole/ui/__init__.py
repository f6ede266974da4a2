"""Textual widgets shared by every pane (the resource table and its helpers).

Nothing under ``btconsole.ui`` imports an Azure SDK: panes receive plain records.
"""
