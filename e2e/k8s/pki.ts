// Throwaway PKI for one control plane, made with the openssl CLI: a CA, the
// apiserver's serving certificate signed by it, and the service-account
// token signing key pair.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function openssl(dir: string, ...args: string[]): Promise<unknown> {
  return run('openssl', args, { cwd: dir });
}

/** An openssl config that gives a certificate exactly these extensions. */
function certConfig(commonName: string, extensions: string[]): string {
  return ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = ${commonName}`, '[ext]', ...extensions, ''].join(
    '\n',
  );
}

/** Writes the PKI into dir; `hosts` are the serving certificate's SANs. */
export async function makePki(dir: string, hosts: { ips: string[]; dns: string[] }): Promise<Pki> {
  const pki: Pki = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
  };
  const caConf = join(dir, 'ca.cnf');
  const servingConf = join(dir, 'apiserver.cnf');
  const sans = [...hosts.ips.map((ip) => `IP:${ip}`), ...hosts.dns.map((name) => `DNS:${name}`)].join(',');
  await Promise.all([
    writeFile(
      caConf,
      certConfig('imgw-e2e-ca', ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign']),
    ),
    writeFile(
      servingConf,
      certConfig('kube-apiserver', [
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${sans}`,
      ]),
    ),
  ]);
  // EC keys: generated in milliseconds. The token key is RSA, the algorithm
  // every service-account token consumer accepts.
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  const ca = openssl(dir, 'req', '-x509', ...ecKey, '-config', caConf, '-extensions', 'ext', '-keyout', pki.caKey, '-out', pki.caCert);
  const serving = ca.then(() =>
    openssl(dir, 'req', '-x509', ...ecKey, '-config', servingConf, '-extensions', 'ext', '-CA', pki.caCert,
      '-CAkey', pki.caKey, '-keyout', pki.servingKey, '-out', pki.servingCert),
  );
  const serviceAccount = openssl(dir, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.serviceAccountKey)
    .then(() => openssl(dir, 'pkey', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub));
  await Promise.all([serving, serviceAccount]);
  return pki;
}
