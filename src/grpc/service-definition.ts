// The one place where protobuf-es descriptors meet grpc-js: every service (server or client side)
// gets its wire definition from here.
import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

declare const encodedAs: unique symbol;

/**
 * The pass-through rule: bytes a handler encoded itself (and may have cached) leave through the codec untouched,
 * so they must be exactly `toBinary(D, message)`. The brand says so; only encode() makes them.
 */
export type Encoded<D extends DescMessage> = Uint8Array & { readonly [encodedAs]: D };

/** `msg` as the bytes the codec would send for it, to answer with (again) as they are. */
export function encode<D extends DescMessage>(desc: D, msg: MessageShape<D>): Encoded<D> {
  return toBinary(desc, msg) as Encoded<D>;
}

function codec<D extends DescMessage>(desc: D) {
  return {
    serialize: (msg: MessageShape<D> | Encoded<D>): Buffer => {
      const bytes = msg instanceof Uint8Array ? msg : toBinary(desc, msg);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (buf: Buffer): MessageShape<D> => fromBinary(desc, buf),
  };
}

function methodDefinition(service: DescService, m: DescMethod): MethodDefinition<unknown, unknown> {
  const input = codec(m.input);
  const output = codec(m.output);
  return {
    path: `/${service.typeName}/${m.name}`,
    requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
    responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
    requestSerialize: input.serialize as (v: unknown) => Buffer,
    requestDeserialize: input.deserialize,
    responseSerialize: output.serialize as (v: unknown) => Buffer,
    responseDeserialize: output.deserialize,
    originalName: m.localName,
  };
}

/**
 * grpc-js service definition for a generated protobuf-es service. Handlers and client methods are keyed
 * by the method's proto name (e.g. `Check`, `ProcessStream`, `FetchX509Bundles`).
 */
export function serviceDefinition(service: DescService): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) def[m.name] = methodDefinition(service, m);
  return def;
}
