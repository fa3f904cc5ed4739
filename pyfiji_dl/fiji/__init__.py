"""Everything that talks to ImageJ/Fiji: locating it, the JVM, sessions, macros."""
