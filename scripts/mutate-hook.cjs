// Loaded after Stryker's tap-runner hook in every test process it starts. That hook exits the process on
// SIGHUP, but our reload tests send SIGHUP to their own process on purpose (the server re-reads its config),
// so its SIGHUP listener is taken off again; its exit handler, which writes the coverage file, stays.
for (const listener of process.listeners("SIGHUP")) process.removeListener("SIGHUP", listener);
