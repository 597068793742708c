// A node:test reporter that writes one JSON object per line for every finished test or suite, so
// pytest (tests/node_tests.py) can report each inner test as a result of its own.
// Use: node --test --test-reporter=./tests/node-results-reporter.mjs --test-reporter-destination=FILE

function describeError(error) {
  if (!error) return null;
  // node:test wraps what the test threw: the cause is the assertion error itself.
  const cause = error.cause ?? error;
  const text = cause && cause.stack ? cause.stack : String(cause);
  return text;
}

export default async function* nodeResultsReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const data = event.data;
    yield `${JSON.stringify({
      outcome: event.type === "test:pass" ? "passed" : "failed",
      name: data.name,
      file: data.file ?? null,
      nesting: data.nesting,
      kind: data.details?.type ?? "test",
      skip: data.skip !== undefined && data.skip !== false,
      todo: data.todo !== undefined && data.todo !== false,
      durationMs: data.details?.duration_ms ?? null,
      failureType: data.details?.error?.failureType ?? null,
      error: event.type === "test:fail" ? describeError(data.details?.error) : null,
    })}\n`;
  }
}
