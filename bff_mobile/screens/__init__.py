"""Screen services: one function per mobile screen. Each fans out to upstream
operations, shapes the result for the app, and knows which sections are optional."""
