// The whole Check path as Envoy drives it, without a socket: CheckRequest → the Envoy door's Check handler
// (src/adapters/envoy/service.ts) → Engine → decide() → CheckResponse; the Decision is captured on the way
// out so properties can hold it against the wire answer. Plus the invariants every answer must satisfy.
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { envoyAuthorizationService } from "../../src/adapters/envoy/service.js";
import {
  CheckResponseSchema,
  type CheckRequest,
  type CheckResponse,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { Engine } from "../../src/engine/engine.js";
import { REASONS, type Decision, type Reason } from "../../src/engine/contract.js";
import type { Policy } from "../../src/policy/index.js";
import type { TrustSnapshot } from "../../src/trust/snapshot.js";
import { status as grpcStatus } from "@grpc/grpc-js";

type CheckHandler = (
  call: Pick<grpc.ServerUnaryCall<CheckRequest, CheckResponse>, "request">,
  // The door may answer with a message or with its already-encoded bytes (grpc-js sends both as they are).
  callback: (err: grpc.ServiceError | null, value?: CheckResponse | Uint8Array | null) => void,
) => void;

export interface CheckResult {
  response: CheckResponse;
  decision: Decision;
}

const ALLOW_REASONS: ReadonlySet<Reason> = new Set(["ok", "no_certificate", "fail_open", "log_and_allow"]);
const DENY_REASONS: ReadonlySet<Reason> = new Set(
  REASONS.filter((r) => r !== "ok" && r !== "fail_open" && r !== "log_and_allow"),
);
const GRPC_FOR_HTTP: Record<number, number> = { 401: 16, 403: 7, 503: 14 };

export class EnvoyHarness {
  readonly engine: Engine;
  private readonly handler: CheckHandler;
  private last: Decision | undefined;
  /** error-level log lines: the door logs one only when the engine rejected (a bug). */
  readonly errors: string[] = [];

  /** `snapshot` and `now` may be functions, for properties that rotate bundles or move the clock. */
  constructor(
    policy: Policy,
    snapshot: TrustSnapshot | (() => TrustSnapshot),
    now: Date | (() => Date),
    opts: { cache?: false } = {},
  ) {
    this.engine = new Engine({
      policy,
      trust: { current: typeof snapshot === "function" ? snapshot : () => snapshot },
      clock: typeof now === "function" ? now : () => now,
      ...opts,
    });
    const decider = {
      decide: async (req: Parameters<Engine["decide"]>[0]) => {
        this.last = undefined;
        const d = await this.engine.decide(req);
        this.last = d;
        return d;
      },
    };
    const log = pino({ level: "error" }, { write: (line: string) => void this.errors.push(line) });
    this.handler = envoyAuthorizationService(decider, log).implementation["Check"] as unknown as CheckHandler;
  }

  /** One Check, as grpc-js would make it. Rejects if the handler throws or answers with a transport error. */
  check(request: CheckRequest): Promise<CheckResult> {
    return new Promise((resolve, reject) => {
      this.last = undefined;
      try {
        this.handler({ request }, (err, value) => {
          if (err) return reject(new Error(`Check answered with a transport error: ${err.message}`));
          if (!value) return reject(new Error("Check answered with no response"));
          if (!this.last)
            return reject(new Error(`Check answered without a decision (${this.errors.at(-1) ?? "no log"})`));
          const response = value instanceof Uint8Array ? fromBinary(CheckResponseSchema, value) : value;
          resolve({ response, decision: this.last });
        });
      } catch (err) {
        reject(new Error(`Check threw out of the adapter: ${err instanceof Error ? err.stack : String(err)}`));
      }
    });
  }
}

/** What a leaf certificate's SHA-256 identifies: the SPIFFE ID it was really issued for. */
export type KnownLeaves = ReadonlyMap<string, string>;

/**
 * Invariants of every answer: a well-formed, serialisable CheckResponse that agrees with the Decision; a
 * reason from the closed set; denials with a deny reason and the right status pair; allows with reason ok
 * only for a verified identity whose leaf we issued for exactly that ID (or the one JWT subject we signed),
 * and other allows without identity headers.
 */
export function assertAnswer(
  r: CheckResult,
  known: KnownLeaves,
  jwtSubjects: ReadonlySet<string>,
  identityHeaders: readonly string[],
): void {
  const { response: res, decision: d } = r;
  assert.equal(res.$typeName, "envoy.service.auth.v3.CheckResponse");
  toBinary(CheckResponseSchema, res);
  assert.ok((REASONS as readonly string[]).includes(d.reason), `reason ${d.reason} is not in the closed set`);
  const md = res.dynamicMetadata as { reason?: unknown; decision?: unknown } | undefined;
  assert.equal(md?.reason, d.reason);
  assert.equal(md?.decision, d.allow ? "allow" : "deny");
  if (d.allow) {
    assert.equal(res.status?.code, grpcStatus.OK);
    assert.equal(d.httpStatus, 200);
    assert.equal(res.httpResponse.case, "okResponse");
    assert.ok(ALLOW_REASONS.has(d.reason), `allow with reason ${d.reason}`);
    const ok = res.httpResponse.case === "okResponse" ? res.httpResponse.value : undefined;
    const set = new Set((ok?.headers ?? []).map((h) => h.header?.key.toLowerCase()));
    // Every identity header is either set by us or removed: none from the client survives.
    for (const h of identityHeaders)
      assert.ok(set.has(h) || ok?.headersToRemove.includes(h), `identity header ${h} neither set nor removed`);
    if (d.reason === "ok") {
      const id = d.identity;
      assert.ok(id, "ok without identity");
      if (id.method === "spiffe") {
        assert.ok(d.certInfo, "ok without certInfo (include-cert-info is on)");
        assert.equal(
          known.get(d.certInfo.sha256),
          id.spiffeId,
          `allowed ${id.spiffeId} for a leaf we never issued for it (${d.certInfo.sha256})`,
        );
      } else {
        assert.ok(jwtSubjects.has(id.spiffeId), `JWT allow for ${id.spiffeId}`);
      }
      assert.equal(
        ok?.headers.find((h) => h.header?.key.toLowerCase() === identityHeaders[0])?.header?.value,
        id.spiffeId,
      );
    } else {
      assert.equal(d.identity, undefined);
      assert.equal(ok?.headers.length, 0, `${d.reason} allow with identity headers`);
    }
  } else {
    assert.ok(DENY_REASONS.has(d.reason), `deny with reason ${d.reason}`);
    assert.equal(res.httpResponse.case, "deniedResponse");
    const denied = res.httpResponse.case === "deniedResponse" ? res.httpResponse.value : undefined;
    assert.equal(denied?.status?.code, d.httpStatus);
    assert.equal(res.status?.code, GRPC_FOR_HTTP[d.httpStatus], `gRPC status for HTTP ${d.httpStatus}`);
    assert.equal(res.status?.message, d.reason);
    assert.equal((JSON.parse(denied?.body ?? "{}") as { reason?: string }).reason, d.reason);
  }
}
