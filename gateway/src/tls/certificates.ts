/**
 * TLS for the HTTP/WebSocket port and the gRPC port from PEM files. The files
 * are re-read on an interval and a changed pair is swapped in without a
 * restart (cert-manager renews by rewriting the mounted Secret).
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
}

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export function readKeyPair(files: TlsFiles): KeyPair {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/** Polls the files (one timer) and applies a changed pair to the HTTPS server. */
export class CertificateReloader {
  private readonly files: TlsFiles;
  private readonly log: Logger;
  private current: KeyPair;
  private timer: NodeJS.Timeout | null = null;

  constructor(files: TlsFiles, initial: KeyPair, log: Logger) {
    this.files = files;
    this.current = initial;
    this.log = log;
  }

  watch(server: HttpsServer): void {
    this.timer = setInterval(() => this.check(server), this.files.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private check(server: HttpsServer): void {
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
      this.log.info('tls_certificate_reloaded', { cert_file: this.files.certFile });
    } catch (err) {
      // A cert and key from different rotations do not match; wait for both.
      this.log.warn('tls_reload_rejected', { error: errorText(err) });
    }
  }
}

/** gRPC server credentials that follow the same files. */
export function grpcTlsCredentials(files: TlsFiles): grpc.ServerCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    refreshIntervalMs: files.reloadIntervalMs,
  });
  // grpc-js 1.14 hands this function's first argument to the credentials'
  // identity slot and the second to the CA slot (the declared names are the
  // other way round), so the identity provider goes first. No CA: clients are
  // not asked for certificates. The TLS test catches a change of this order.
  return grpc.experimental.createCertificateProviderServerCredentials(
    provider,
    null as unknown as grpc.experimental.CertificateProvider,
    false,
  );
}
