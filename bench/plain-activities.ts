/** The plain workflow's two no-op activities (B1's raw Temporal side). */
export async function plainFirst(_id: string): Promise<{ ok: boolean }> {
  return { ok: true };
}

export async function plainSecond(_id: string): Promise<{ ok: boolean }> {
  return { ok: true };
}
