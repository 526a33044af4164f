// CSS imported for its side effect: vite bundles it into the page's stylesheet.
declare module '*.css';
