import streamlit as st

st.title("Files")
st.info("This page is being built.")
