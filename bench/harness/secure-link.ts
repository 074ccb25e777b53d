import { createHash } from 'node:crypto';

// nginx's secure_link module, configured as its documentation describes:
//   secure_link $arg_md5,$arg_expires;
//   secure_link_md5 "$secure_link_expires$uri$remote_addr <secret>";
// The link carries md5 = base64url(MD5(expires + uri + client address + " " + secret)),
// unpadded, and expires in Unix seconds. nginx checks it with no state: it is the named peer
// for a ticket check, although it can neither be single-use nor hide its conditions.

export function secureLinkMd5Expression(secret: string): string {
  return `$secure_link_expires$uri$remote_addr ${secret}`;
}

export function secureLinkPath(uri: string, expiresS: number, clientAddress: string, secret: string): string {
  const md5 = createHash('md5').update(`${expiresS}${uri}${clientAddress} ${secret}`).digest('base64url');
  return `${uri}?md5=${md5}&expires=${expiresS}`;
}
