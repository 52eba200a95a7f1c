import { buildInfo } from "../../build-info";

export const dynamic = "force-dynamic";

export function GET() {
  return Response.json(buildInfo());
}
