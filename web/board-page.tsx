import { Layout, TokenForm } from './layout.js';

/** `/app`: the quote board. The page is a shell; board.js fills it from `/stocks`. */
export function BoardPage() {
  return (
    <Layout title="mdhub · quote board" script="board.js">
      <header class="bar">
        <h1>mdhub quotes</h1>
        <p id="connection" class="connection" data-state="signed-out">
          Signed out
        </p>
        <p id="announce" class="visually-hidden" role="status" aria-live="polite" />
        <button id="sign-out" type="button" hidden>
          Sign out
        </button>
      </header>
      <main>
        <TokenForm
          id="sign-in"
          label="Your API token"
          hint="The token stays in this browser tab only and is sent to the hub over its WebSocket, never in an address."
        />
        <section id="board" class="panel" aria-labelledby="board-title" hidden>
          <h2 id="board-title">Watchlist</h2>
          <form id="add-form" class="inline">
            <label for="symbol">Symbol</label>
            <input
              id="symbol"
              name="symbol"
              autocomplete="off"
              autocapitalize="characters"
              spellcheck={false}
              maxlength={20}
              required
              aria-describedby="add-error"
            />
            <button type="submit">Add</button>
          </form>
          <p id="add-error" class="error" role="alert" />
          <p id="notice" class="notice" role="status" aria-live="polite" />
          <table id="quotes" class="grid">
            <caption>
              Quotes and trades for your watchlist. Real time only where your account is licensed for the
              exchange; otherwise delayed, with the reason. A symbol whose trading is halted is marked Halted.
            </caption>
            <thead>
              <tr>
                <th scope="col">Symbol</th>
                <th scope="col" class="num">
                  Bid
                </th>
                <th scope="col" class="num">
                  Ask
                </th>
                <th scope="col" class="num">
                  Last trade
                </th>
                <th scope="col">Exchange time</th>
                <th scope="col">Data</th>
                <th scope="col">Freshness</th>
                <th scope="col">
                  <span class="visually-hidden">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody id="quote-rows" />
          </table>
          <p id="empty" class="hint">
            Your watchlist is empty: add a symbol such as AAPL.
          </p>
        </section>
      </main>
    </Layout>
  );
}
