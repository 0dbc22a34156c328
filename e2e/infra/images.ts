// Image references for the e2e services, from the versions pinned in
// images.env (shared with setup.sh, which builds the local images).
import { readFileSync } from 'node:fs';

export interface ServiceImages {
  redis: string;
  etcd: string;
  kafka: string;
}

/** Parses the KEY=value lines of images.env; the environment overrides them as in setup.sh. */
function pinnedVersions(): Record<string, string> {
  const text = readFileSync(new URL('./images.env', import.meta.url), 'utf8');
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [, key, value = ''] = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim()) ?? [];
    if (key) values[key] = process.env[key] || value;
  }
  for (const key of ['IMGW_IMAGE_REV', 'IMGW_DEBIAN_SUITE', 'IMGW_KAFKA_VERSION']) {
    if (!values[key]) throw new Error(`images.env lacks ${key}`);
  }
  return values;
}

/** Images built by setup.sh from Debian packages and Kafka's Maven jars. */
export function localImages(): ServiceImages {
  const v = pinnedVersions();
  const debian = `${v.IMGW_DEBIAN_SUITE}-r${v.IMGW_IMAGE_REV}`;
  return withOverrides({
    redis: `localhost/im-redis:${debian}`,
    etcd: `localhost/im-etcd:${debian}`,
    kafka: `localhost/im-kafka:${v.IMGW_KAFKA_VERSION}-r${v.IMGW_IMAGE_REV}`,
  });
}

/** Upstream images, for machines with a Docker engine and a registry; the versions follow the local images. */
export function officialImages(): ServiceImages {
  const v = pinnedVersions();
  return withOverrides({
    redis: 'redis:7.0.15',
    etcd: 'quay.io/coreos/etcd:v3.4.23',
    kafka: `apache/kafka:${v.IMGW_KAFKA_VERSION}`,
  });
}

function withOverrides(images: ServiceImages): ServiceImages {
  return {
    redis: process.env.IMGW_REDIS_IMAGE || images.redis,
    etcd: process.env.IMGW_ETCD_IMAGE || images.etcd,
    kafka: process.env.IMGW_KAFKA_IMAGE || images.kafka,
  };
}
