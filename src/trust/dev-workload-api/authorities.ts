// The dev Workload API's certificate and JWT authorities: a list for its own trust domain, because a rotation
// keeps old and new in the bundle until the old ones are dropped (as SPIRE's preparation phase does), and one
// authority per federated trust domain.
import { DevCertificateAuthority, DevJwtAuthority } from "../../dev-ca/index.js";
import { BundleSet, JwtBundle, parseTrustDomain } from "../../spiffe/index.js";

export interface Authority {
  root: DevCertificateAuthority;
  /** What signs SVIDs: the root, or its intermediate. */
  signer: DevCertificateAuthority;
  jwt: DevJwtAuthority;
}

async function newAuthority(td: string, intermediate: boolean): Promise<Authority> {
  const root = await DevCertificateAuthority.createRoot(td);
  const signer = intermediate ? await root.createIntermediate() : root;
  return { root, signer, jwt: await DevJwtAuthority.create(td) };
}

export class DevAuthorities {
  /** Federated trust domain name → its authority (its root alone signs, never through an intermediate). */
  readonly federated = new Map<string, Authority>();

  private constructor(
    /** Our own trust domain's name. */
    readonly trustDomain: string,
    /** Issue SVIDs from an intermediate under each root. */
    private readonly intermediate: boolean,
    /** Authorities in the bundle, oldest first; the last one signs. */
    private own: Authority[],
  ) {}

  static async create(trustDomain: string, intermediate: boolean): Promise<DevAuthorities> {
    return new DevAuthorities(trustDomain, intermediate, [await newAuthority(trustDomain, intermediate)]);
  }

  get newest(): Authority {
    return this.own[this.own.length - 1] as Authority;
  }

  /** Every root of our own trust domain's bundle, oldest first. */
  get roots(): DevCertificateAuthority[] {
    return this.own.map((a) => a.root);
  }

  /** A new authority that signs from now on; the older ones stay in the bundle. */
  async rotate(): Promise<void> {
    this.own.push(await newAuthority(this.trustDomain, this.intermediate));
  }

  /** Keeps only the newest authority in the bundle. */
  dropOld(): void {
    this.own = [this.newest];
  }

  async addFederated(td: string): Promise<Authority> {
    const name = parseTrustDomain(td).name;
    const a = await newAuthority(name, false);
    this.federated.set(name, a);
    return a;
  }

  /** True when `td` was federated. */
  removeFederated(td: string): boolean {
    return this.federated.delete(parseTrustDomain(td).name);
  }

  federatedAuthority(td: string): Authority | undefined {
    return this.federated.get(parseTrustDomain(td).name);
  }

  /** Our own trust domain's JWT bundle: every current authority's key. */
  ownJwtBundle(): JwtBundle {
    return JwtBundle.fromAuthorities(
      parseTrustDomain(this.trustDomain),
      this.own.map((a) => a.jwt.authority()),
    );
  }

  /** The JWT bundles of our own and every federated trust domain. */
  jwtBundles(): BundleSet {
    return new BundleSet([this.ownJwtBundle(), ...[...this.federated.values()].map((f) => f.jwt.jwtBundle())]);
  }
}
