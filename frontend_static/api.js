// REST calls to the backend: the session token (kept in sessionStorage), JSON in and out, and errors thrown
// as Error objects carrying {status, data}. A 401 on an open session is reported to whoever registered
// onUnauthorized (main.js ends the session). Imports nothing of the UI.

let token = sessionStorage.getItem("tm.token");
let unauthorizedHandler = () => {};

export function getToken() { return token; }

export function setToken(next) {
  token = next;
  sessionStorage.setItem("tm.token", token);
}

export function clearToken() {
  token = null;
  sessionStorage.removeItem("tm.token");
}

export function onUnauthorized(handler) { unauthorizedHandler = handler; }

export async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && token && !path.endsWith("/login")) {
    unauthorizedHandler();
    throw Object.assign(new Error("unauthorized"), { status: 401, data });
  }
  if (!response.ok) throw Object.assign(new Error("http"), { status: response.status, data, response });
  return data;
}
