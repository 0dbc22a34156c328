/**
 * TLS for the HTTP/WebSocket port and the gRPC port from PEM files. The files
 * are re-read on an interval and a changed pair is swapped in without a
 * restart (cert-manager renews by rewriting the mounted Secret). With a
 * client CA, the gRPC port asks every caller for a certificate it signed
 * (mutual TLS), and the same CA file is followed.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  reloadIntervalMs: number;
  /** PEM CA bundle gRPC callers' certificates must chain to; unset asks for none. */
  clientCaFile?: string | undefined;
}

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export function readKeyPair(files: TlsFiles): KeyPair {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/** Polls the files (one timer) and applies a changed pair to the HTTPS server and to gRPC. */
export class CertificateReloader {
  private readonly files: TlsFiles;
  private readonly log: Logger;
  private current: KeyPair;
  private timer: NodeJS.Timeout | null = null;
  private readonly grpcIdentity: IdentityProvider;
  private readonly clientCa: CaProvider | null;

  constructor(files: TlsFiles, initial: KeyPair, log: Logger) {
    this.files = files;
    this.current = initial;
    this.log = log;
    this.grpcIdentity = new IdentityProvider(initial);
    this.clientCa = files.clientCaFile === undefined ? null : new CaProvider(readFileSync(files.clientCaFile));
  }

  /** This node's certificate as grpc-js takes it: what it presents when it calls its peers under mutual TLS. */
  get identity(): grpc.experimental.CertificateProvider {
    return this.grpcIdentity;
  }

  watch(server: HttpsServer): void {
    this.timer = setInterval(() => this.check(server), this.files.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private check(server: HttpsServer): void {
    this.checkClientCa();
    let next: KeyPair;
    try {
      next = readKeyPair(this.files);
    } catch (err) {
      // Mid-rotation the files can be briefly missing; the next poll retries.
      this.log.warn('tls_reload_read_failed', { error: errorText(err) });
      return;
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return;
    try {
      server.setSecureContext({ cert: next.cert, key: next.key });
      this.current = next;
      // Only a pair the HTTPS server accepted reaches gRPC: both ports serve the same certificate.
      this.grpcIdentity.update(next);
      this.log.info('tls_certificate_reloaded', { cert_file: this.files.certFile });
    } catch (err) {
      // A cert and key from different rotations do not match; wait for both.
      this.log.warn('tls_reload_rejected', { error: errorText(err) });
    }
  }

  private checkClientCa(): void {
    if (this.clientCa === null) return;
    try {
      this.clientCa.update(readFileSync(this.files.clientCaFile!));
    } catch (err) {
      this.log.warn('tls_reload_read_failed', { error: errorText(err) });
    }
  }

  /** gRPC server credentials that follow the same files. */
  grpcCredentials(): grpc.ServerCredentials {
    // grpc-js 1.14 hands this function's first argument to the credentials'
    // identity slot and the second to the CA slot (the declared names are the
    // other way round), so the identity provider goes first. No CA: clients are
    // not asked for certificates; a CA: they must present one it signed. The
    // TLS tests catch a change of this order.
    return grpc.experimental.createCertificateProviderServerCredentials(
      this.grpcIdentity,
      this.clientCa as unknown as grpc.experimental.CertificateProvider,
      this.clientCa !== null,
    );
  }
}

/** A CA bundle for grpc-js, on the server (client CA) or a client (server CA). */
export class CaProvider implements grpc.experimental.CertificateProvider {
  private ca: Buffer;
  private readonly listeners = new Set<grpc.experimental.CaCertificateUpdateListener>();

  constructor(ca: Buffer) {
    this.ca = ca;
  }

  update(ca: Buffer): void {
    if (ca.equals(this.ca)) return;
    this.ca = ca;
    for (const listener of this.listeners) listener({ caCertificate: ca });
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.listeners.add(listener);
    // As for identities: grpc-js subscribes before it is ready to hear, so answer in a microtask.
    queueMicrotask(() => {
      if (this.listeners.has(listener)) listener({ caCertificate: this.ca });
    });
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  addIdentityCertificateListener(): void {}
  removeIdentityCertificateListener(): void {}
}

/**
 * Feeds grpc-js the reloader's validated pair. Not grpc-js's own
 * FileWatcherCertificateProvider: its first read is asynchronous, so gRPC
 * dropped connections after start() had resolved, and a cert and key from
 * different rotations made it drop every connection until the next poll.
 */
class IdentityProvider implements grpc.experimental.CertificateProvider {
  private pair: KeyPair;
  private readonly listeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(pair: KeyPair) {
    this.pair = pair;
  }

  update(pair: KeyPair): void {
    this.pair = pair;
    for (const listener of this.listeners) listener({ certificate: pair.cert, privateKey: pair.key });
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.listeners.add(listener);
    // grpc-js subscribes its server to the credentials only after this returns,
    // so a synchronous call would be lost; a microtask still lands before the port listens.
    queueMicrotask(() => {
      if (this.listeners.has(listener)) listener({ certificate: this.pair.cert, privateKey: this.pair.key });
    });
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}
