/* Loaded with LD_PRELOAD by the start-up check test: makes the embedded interpreter report a
   version other than the one dispatchd was built against, as a different libpython would. */
const char *Py_GetVersion(void) { return "2.7.18 (a different libpython)"; }
