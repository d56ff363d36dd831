// The XML parser both ends of Omaha use: attributes kept as strings, the five XML entities and numeric character
// references (&#47; &#x2F;) decoded once; no HTML entities (&copy; is not XML and stays as written).

import { EntityDecoder } from '@nodable/entities';
import { XMLParser } from 'fast-xml-parser';

/** A parser with attributes under "@_", values as strings, and NAMES always read as arrays. */
export function createOmahaXmlParser(arrays: readonly string[]): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    processEntities: true,
    // fast-xml-parser leaves numeric references as written unless told; a server may escape "/" as &#47;.
    entityDecoder: new EntityDecoder({ numericAllowed: true }),
    isArray: (name) => arrays.includes(name),
  });
}
