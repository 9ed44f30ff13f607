"""Widgets and helpers shared by the screens in ``app_pages/``.

``auth``                 sign-in (st.login): the gate, and the pages instead of the app
``service``              the cached ConnectionService of the chosen workspace, for who is signed in
``sidebar``              the workspace picker, "New workspace", and who is signed in
``members``              Settings' Members and Sign-in sections; controls a role can't use
``roles``                what a role can't do, said at the top of a screen; who sees server details
``settings_sections``    Settings' other sections: the encryption key, storage, counts
``activity``             the Activity screen's table, filters and spreadsheet-safe CSV
``errors``               short messages instead of tracebacks; the start-up explanation
``notices``              toasts that confirm an action after the rerun that follows it
``format``               times (relative, and in the reader's zone) and text made safe for Markdown
``widgets``              the status badge and a check's result
``confirm``              the one dialog that asks before a delete, whatever is deleted
``connection_dialogs``   the add, edit and delete dialogs (forms from the provider registry)
``connection_card``      one connection as a card, with its actions
``connection_sections``  the Connections screen's sections: toolbar, paged cards, Recently deleted
``checks``               a card's Test and Test all, run off the script thread and shown on arrival;
                         Test all's table, row by row
``undo``                 Undo after a delete, in the deleted card's place
``background``           checks and pulls that end on another screen, told where the person is
``connection_filters``   the Connections screen's filters, applied as you type, cleared at once
``provider_icons``       each provider's mark, drawn as SVG, with its name as the text alternative
``chrome``               the tab's title and icon, destructive buttons, the sidebar on phones
``ollama_state``         an Ollama server as last read (through the service, recording nothing),
                         a model's details kept in the session, and a pull followed across reruns
``ollama_sections``      the Ollama screen's sections, in one slot a new server replaces
``ollama_pull``          its Pull section, and a pull that ends while the person is elsewhere
"""
