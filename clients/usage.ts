// Compiled by scripts/clients.sh under `tsc --strict` against the types openapi-typescript
// generates from openapi/openapi.json (imported as ./api): the smoke flow's shapes, typed.
import type { components, operations, paths } from "./api";

type Schemas = components["schemas"];

// The error envelope: `details.field` is typed, other details stay reachable, and the
// published codes narrow an open `code`.
export function fieldOf(body: Schemas["ErrorBody"]): string | undefined {
    const extra: unknown = body.error.details["available_from"];
    void extra;
    return body.error.details.field;
}
export function isKnownCode(code: string): code is Schemas["ErrorCode"] {
    const known: Schemas["ErrorCode"][] = ["precondition_failed", "number_assigned", "not_found"];
    return (known as string[]).includes(code);
}

// Always-sent nullable fields are required: no `?`, `null` must be handled.
export function holder(n: Schemas["Number"]): string | null {
    return n.assignment === null ? null : n.assignment.target.name;
}
export function nextPage(list: Schemas["NumberList"]): string | null {
    return list.next_cursor;
}

// The list's bounded `limit`, the assign operation's headers and body.
export const listQuery: NonNullable<operations["list_numbers"]["parameters"]["query"]> = { limit: 50, range: "1" };
export const assignHeaders: NonNullable<operations["assign_number"]["parameters"]["header"]> = {
    "If-Match": '"3"',
    "Idempotency-Key": "7d1f",
};
export const assignBody: operations["assign_number"]["requestBody"] extends infer B
    ? B extends { content: { "application/json": infer J } } ? J : never
    : never = { target: { kind: "service", id: "1" } };

// Release and unassign: the body may be left out.
export type ReleaseBody = NonNullable<operations["release_number"]["requestBody"]>;
export const releaseWithoutBody: operations["release_number"]["requestBody"] = undefined;

// Imports take the raw CSV or a form with a file part.
export type ImportForm = NonNullable<operations["create_import"]["requestBody"]>["content"]["multipart/form-data"];

// Audit records: before/after are objects of any values, or null.
export function changedFields(r: Schemas["AuditRecord"]): string[] {
    return r.after === null ? [] : Object.keys(r.after);
}
export function eventData(e: Schemas["ChangeEvent"]): unknown {
    return e.data?.["status"];
}

// ImportChange old/new: any value (a string, a tag list, `{id, name}`).
export function describe(c: Schemas["ImportChange"]): string {
    return JSON.stringify([c.old, c.new]);
}

// The audit CSV has its own operation, answering text.
export type AuditCsv = paths["/api/v1/export/audit.csv"]["get"]["responses"][200]["content"]["text/csv"];
export const csvHeader: AuditCsv = "id,at,actor_kind";

// Stats, change sets and import plans the smoke flow reads.
export function assigned(s: Schemas["Stats"]): number {
    return s.totals.assigned;
}
export function planned(p: Schemas["ImportPlan"]): boolean {
    return p.status === "planned" && p.next_cursor === null;
}
export type StreamMark = Schemas["StreamMark"];
