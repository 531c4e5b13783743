// The dev Workload API's open push streams (FetchX509Bundles, FetchJWTBundles, FetchX509SVID): each gets the
// current state when it is accepted and again on every change, as the SPIRE agent's streams do.
import * as grpc from "@grpc/grpc-js";
import type {
  JWTBundlesResponse,
  X509BundlesResponse,
  X509SVIDResponse,
} from "../../gen/spiffe/workload/workload_pb.js";
import { statusError } from "./messages.js";

export type Stream = grpc.ServerWritableStream<unknown, unknown>;

/** The server-streaming methods whose streams get a message on every change. */
export type PushMethod = "FetchX509Bundles" | "FetchJWTBundles" | "FetchX509SVID";

/** The current state, as each push method's message. */
export interface CurrentState {
  x509Bundles(): X509BundlesResponse;
  jwtBundles(): JWTBundlesResponse;
  x509Svids(): Promise<X509SVIDResponse>;
}

export class PushStreams {
  private readonly open: Record<PushMethod, Set<Stream>> = {
    FetchX509Bundles: new Set(),
    FetchJWTBundles: new Set(),
    FetchX509SVID: new Set(),
  };
  private readonly svidSends = new WeakMap<Stream, Promise<void>>();

  constructor(private readonly state: CurrentState) {}

  /** Keeps `call` until the client cancels or it closes; `sendNow` sends it the current state at once. */
  add(method: PushMethod, call: Stream, sendNow: boolean): void {
    const set = this.open[method];
    set.add(call);
    call.on("cancelled", () => set.delete(call));
    call.on("close", () => set.delete(call));
    if (sendNow) this.send(method, call);
  }

  /** Sends the current state on every open stream. */
  sendAll(): void {
    for (const [method, set] of Object.entries(this.open)) for (const s of set) this.send(method as PushMethod, s);
  }

  /** Ends every open stream with `err` and forgets it. */
  endAll(err: grpc.ServiceError): void {
    for (const set of Object.values(this.open)) {
      for (const call of set) call.emit("error", err);
      set.clear();
    }
  }

  /** Forgets every open stream (the server that carried them is gone). */
  forgetAll(): void {
    for (const set of Object.values(this.open)) set.clear();
  }

  private send(method: PushMethod, call: Stream): void {
    if (method === "FetchX509Bundles") call.write(this.state.x509Bundles());
    else if (method === "FetchJWTBundles") call.write(this.state.jwtBundles());
    else this.sendSvids(call);
  }

  private sendSvids(call: Stream): void {
    // Issuing is async: chain per stream so a quick second change cannot overtake the first.
    const prev = this.svidSends.get(call) ?? Promise.resolve();
    const next = prev.then(async () => {
      call.write(await this.state.x509Svids());
    });
    this.svidSends.set(
      call,
      next.catch((err: unknown) => void call.emit("error", statusError(grpc.status.INTERNAL, String(err)))),
    );
  }
}
