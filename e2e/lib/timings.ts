// Times measured against the real peers (rotation, recovery): printed, and appended as one JSON line to
// $E2E_TIMINGS when set (bench/RESULTS.md quotes them).
import { appendFileSync } from "node:fs";

export function record(scenario: string, values: Record<string, number>): void {
  const line = JSON.stringify({ scenario, at: new Date().toISOString(), node: process.version, ...values });
  console.log(`e2e timing: ${line}`);
  const file = process.env["E2E_TIMINGS"];
  if (file) appendFileSync(file, `${line}\n`);
}
