// Validates an OpenAPI document (docs/openapi.json by default) against the
// OpenAPI specification's own schema with @apidevtools/swagger-parser, which
// also resolves every $ref. Exits non-zero when the document is invalid.
//   node validate-openapi.mjs [file]
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2] ?? "../docs/openapi.json";
try {
  const api = await SwaggerParser.validate(file);
  const operations = Object.values(api.paths ?? {}).flatMap((item) => Object.keys(item ?? {}));
  console.log(`${file}: valid OpenAPI ${api.openapi}, ${operations.length} operations`);
} catch (err) {
  console.error(`${file}: not a valid OpenAPI document: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
